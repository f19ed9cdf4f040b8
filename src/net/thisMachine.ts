// Does a host address lead to this machine? A cluster host on this machine is configured by our
// playbooks as the service user (root), so only gateways the operator names may use one. The test
// has to hold against every spelling: names in any case or with a trailing dot, this machine's host
// name, any loopback address (127.0.0.0/8, ::1), the unspecified addresses (0.0.0.0 and :: connect
// to the local host on Linux), IPv4-mapped and IPv4-compatible IPv6 forms of those, odd IPv4
// spellings the resolver accepts (0x7f.1), names that /etc/hosts or DNS map to any of these, and
// every address of this machine's own interfaces.
import { lookup } from 'node:dns/promises';
import { hostname, networkInterfaces } from 'node:os';
import { isIP } from 'node:net';

export interface ThisMachineProbe {
  /** Every address a name resolves to; [] when it does not resolve. */
  resolve(name: string): Promise<string[]>;
  /** This machine's host name and the addresses of its interfaces, read at each call. */
  ownNames(): string[];
  ownAddresses(): string[];
}

export const systemProbe: ThisMachineProbe = {
  async resolve(name: string) {
    try {
      return (await lookup(name, { all: true, verbatim: true })).map((entry) => entry.address);
    } catch {
      return [];
    }
  },
  ownNames: () => [hostname()],
  ownAddresses: () => Object.values(networkInterfaces()).flatMap((list) => (list ?? []).map((entry) => entry.address)),
};

/** Lower case, without a trailing dot or the brackets of a URL-style IPv6 literal. */
function normalize(address: string): string {
  let name = address.trim().toLowerCase();
  if (name.startsWith('[') && name.endsWith(']')) name = name.slice(1, -1);
  while (name.endsWith('.')) name = name.slice(0, -1);
  return name;
}

/** The 4 or 16 bytes of an address literal, or undefined. IPv6 zone ids are dropped. */
export function addressBytes(address: string): number[] | undefined {
  const literal = address.split('%')[0];
  const family = isIP(literal);
  if (family === 4) return literal.split('.').map(Number);
  if (family !== 6) return undefined;
  let text = literal;
  const tail: number[] = [];
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (dotted) {
    tail.push(...dotted[1].split('.').map(Number));
    text = `${text.slice(0, -dotted[1].length)}0:0`;
  }
  const [head, rest] = text.split('::');
  const left = head ? head.split(':') : [];
  const right = rest !== undefined && rest !== '' ? rest.split(':') : [];
  const missing = 8 - left.length - right.length;
  const groups = [...left, ...(rest !== undefined ? Array<string>(missing).fill('0') : []), ...right].map((g) => Number.parseInt(g, 16));
  const bytes = groups.flatMap((g) => [g >> 8, g & 0xff]);
  if (tail.length === 4) bytes.splice(12, 4, ...tail);
  return bytes;
}

/** The IPv4 address an IPv6 address stands for (mapped ::ffff:a.b.c.d or compatible ::a.b.c.d). */
function embeddedIpv4(bytes: number[]): number[] | undefined {
  if (bytes.length !== 16 || bytes.slice(0, 10).some((b) => b !== 0)) return undefined;
  const marker = (bytes[10] << 8) | bytes[11];
  if (marker === 0xffff || marker === 0) return bytes.slice(12);
  return undefined;
}

function isLocalOnly(bytes: number[]): boolean {
  if (bytes.length === 4) return bytes[0] === 127 || bytes[0] === 0; // loopback; "this network" (0.0.0.0/8)
  const v4 = embeddedIpv4(bytes);
  if (v4) return isLocalOnly(v4) || v4.every((b) => b === 0);
  const zeroPrefix = bytes.slice(0, 15).every((b) => b === 0);
  return zeroPrefix && (bytes[15] === 0 || bytes[15] === 1); // :: and ::1
}

function sameAddress(a: number[], b: number[]): boolean {
  const left = embeddedIpv4(a) ?? a;
  const right = embeddedIpv4(b) ?? b;
  return left.length === right.length && left.every((byte, i) => byte === right[i]);
}

/** True when connecting to `address` would reach this machine. */
export async function isThisMachine(address: string, probe: ThisMachineProbe = systemProbe): Promise<boolean> {
  const name = normalize(address);
  if (name === 'localhost' || name.endsWith('.localhost')) return true;
  if (probe.ownNames().some((own) => normalize(own) === name)) return true;
  const literal = addressBytes(name);
  const candidates = literal ? [literal] : (await probe.resolve(name)).map(addressBytes).filter((b): b is number[] => b !== undefined);
  const own = probe.ownAddresses().map(addressBytes).filter((b): b is number[] => b !== undefined);
  return candidates.some((bytes) => isLocalOnly(bytes) || own.some((mine) => sameAddress(bytes, mine)));
}

/** Which gateways may have clusters on this machine (LOCAL_CLUSTER_GATEWAYS). */
export type LocalClusterPolicy = '*' | readonly string[];

export function mayUseThisMachine(policy: LocalClusterPolicy, gatewayId: string): boolean {
  return policy === '*' || policy.includes(gatewayId);
}
