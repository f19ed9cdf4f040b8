// Glance (image v2): finding the image a server boots from, by id or by name.
import type { HttpResponse, Query } from './http';
import type { OpenStackSession, ServiceCall } from './session';
import { allPages, ambiguousName, isObject, listAt, looksLikeUuid, objectAt, segment } from './wire';

export type ImageStatus = 'queued' | 'saving' | 'active' | 'killed' | 'deleted' | 'pending_delete' | 'deactivated' | 'uploading' | 'importing';

export interface GlanceImage {
  id: string;
  name: string | null;
  status: ImageStatus;
  visibility?: 'public' | 'private' | 'shared' | 'community';
  owner?: string;
  size?: number | null;
  min_disk?: number;
  min_ram?: number;
  disk_format?: string | null;
  container_format?: string | null;
  tags?: string[];
  created_at?: string;
  updated_at?: string;
}

export class GlanceClient {
  constructor(private readonly session: OpenStackSession) {}

  async getImage(id: string): Promise<GlanceImage | undefined> {
    const response = await this.call({ method: 'GET', path: `/images/${segment(id)}`, accept: [404] });
    // Glance v2 answers with the image itself, not wrapped under a key.
    return response.status === 404 ? undefined : imageOf(response);
  }

  /** Images with exactly this name (Glance filters by name itself), across pages. */
  async listImagesNamed(name: string): Promise<GlanceImage[]> {
    return allPages<GlanceImage>({ name }, async (query: Query) => {
      const response = await this.call({ method: 'GET', path: '/images', query });
      const next = isObject(response.body) && typeof response.body.next === 'string' ? response.body.next : undefined;
      return { items: listAt<GlanceImage>('image', response, 'images'), next };
    });
  }

  /** The image with this id, else the one with this name; undefined when none; an error when the name is not unique. */
  async findImage(nameOrId: string): Promise<GlanceImage | undefined> {
    // An image's name can look like a UUID too: a miss by id still tries the name.
    if (looksLikeUuid(nameOrId)) {
      const byId = await this.getImage(nameOrId);
      if (byId !== undefined) return byId;
    }
    const named = await this.listImagesNamed(nameOrId);
    if (named.length > 1) throw ambiguousName('image', 'image', nameOrId, named.length);
    return named[0];
  }

  private call(call: ServiceCall): Promise<HttpResponse> {
    return this.session.call('image', call);
  }
}

function imageOf(response: HttpResponse): GlanceImage {
  // objectAt wants a wrapper key; an image body is checked for its id instead.
  if (isObject(response.body) && typeof response.body.id === 'string') return response.body as unknown as GlanceImage;
  return objectAt<GlanceImage>('image', response, 'image');
}
