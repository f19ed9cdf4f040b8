// Refuses to run with a secrets key other than the one the database's secrets are sealed with:
// replicas must share one key (SECRETS_KEY_FILE), and finding out at start is far better than
// every build and dispatch of this replica failing on a secret it cannot open.
import type { Db } from '../store/db';
import type { KeyCheckStore } from '../store/keyCheckStore';
import type { SecretBox } from './secretBox';

const CHECK_TEXT = 'airavata-metascheduler secrets key check';

export class SecretsKeyMismatchError extends Error {
  constructor(detail: string) {
    super(`SECRETS_KEY_FILE: this key is not the one this database's secrets are sealed with (${detail}). `
      + 'Every replica must use the same key: copy the first replica\'s key file (DATA_DIR/secrets.key, or its '
      + 'SECRETS_KEY_FILE) to this one and point SECRETS_KEY_FILE at it');
    this.name = 'SecretsKeyMismatchError';
  }
}

function opens(box: SecretBox, sealed: string): boolean {
  try {
    box.open(sealed);
    return true;
  } catch {
    return false;
  }
}

export async function checkSecretsKey(db: Db, box: SecretBox, store: KeyCheckStore, now: number = Date.now()): Promise<void> {
  let sealed = await store.sealedCheck(db);
  if (sealed === undefined) {
    // A database from before the proof: its stored secrets are the proof.
    const older = await store.anySealedSecret(db);
    if (older !== undefined && !opens(box, older)) throw new SecretsKeyMismatchError('it cannot open the stored gateway keys');
    await store.insertIfAbsent(db, box.seal(CHECK_TEXT), now);
    sealed = await store.sealedCheck(db);
  }
  if (sealed === undefined || !opens(box, sealed)) throw new SecretsKeyMismatchError('it cannot open the stored key check');
}
