import { ServerAuth, type AuthLog, type KeyPair } from '../../shared/auth/index.js';
import type { ClusterState } from './cluster-state.js';

/**
 * The manager's `ServerAuth`: the principals follow the config store. The map service
 * and the admin API each make an `AuthServer` per connection or session from it.
 */
export class ManagerAuth extends ServerAuth {
  constructor(serverId: string, keyPair: KeyPair, private readonly state: ClusterState, log?: AuthLog) {
    super(serverId, keyPair, log);
    this.reload();
    state.on('principals', this.reload);
  }

  close(): void {
    this.state.off('principals', this.reload);
  }

  private readonly reload = (): void => {
    const list: unknown[] = [];
    for (const [name, raw] of this.state.principals) {
      // A record must live under its own name.
      if (raw !== null && typeof raw === 'object' && (raw as { name?: unknown }).name === name) list.push(raw);
      else this.log(`pandakv manager: ignoring principal record "${name.slice(0, 64)}" stored under another name`);
    }
    this.setPrincipals(list, 'pandakv manager');
  };
}
