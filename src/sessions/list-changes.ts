import type { ModernHandler } from '../sdk.js';
import type { ListNotifier } from '../server-like.js';
import type { SessionOwner } from './owner.js';

type Kind = 'tools' | 'prompts' | 'resources';

/**
 * Where "a list changed" goes: 2026-07-28 clients hear it on their `subscriptions/listen` streams
 * (SDK v2's handler's notifier), 2025-era sessions as a notification. Both the user (the manager's
 * `notify`) and servers (their own `sendToolListChanged()`, seen by `relay`) report here.
 */
export class ListChanges implements ListNotifier {
  private owner: SessionOwner | undefined;
  private handler: ModernHandler | undefined;
  private readonly relaying = new Set<Kind>();

  /** Start delivering: to these sessions, and to the listen streams of this handler (if any). */
  attach(owner: SessionOwner, handler: ModernHandler | undefined): void {
    this.owner = owner;
    this.handler = handler;
  }

  toolsChanged(): void {
    this.announce('tools');
  }

  promptsChanged(): void {
    this.announce('prompts');
  }

  resourcesChanged(): void {
    this.announce('resources');
  }

  /** Only listen streams: 2025-era clients hear of updates to resources they subscribed to from the server itself. */
  resourceUpdated(uri: string): void {
    this.handler?.notify.resourceUpdated(uri);
  }

  /**
   * A server sent `notifications/<kind>/list_changed` on a session (or a per-request instance on its
   * exchange): 2026-07-28 listeners and the sessions of other replicas hear of it once, although a
   * shared server sends it to each of its sessions.
   */
  relay(method: string): void {
    const kind = method.split('/')[1] as Kind;
    if (this.relaying.has(kind)) return;
    this.relaying.add(kind);
    queueMicrotask(() => {
      this.relaying.delete(kind);
      this.toListeners(kind);
      this.owner?.tellReplicas({ jsonrpc: '2.0', method: `notifications/${kind}/list_changed` });
    });
  }

  /** Another replica's list change: this one's 2026-07-28 listeners hear of it (its sessions have been told). */
  fromReplica(method: string): void {
    const kind = method.split('/')[1];
    if (kind === 'tools' || kind === 'prompts' || kind === 'resources') this.toListeners(kind);
  }

  private announce(kind: Kind): void {
    this.toListeners(kind);
    this.owner?.broadcast({ jsonrpc: '2.0', method: `notifications/${kind}/list_changed` });
  }

  private toListeners(kind: Kind): void {
    const notify = this.handler?.notify;
    if (kind === 'tools') notify?.toolsChanged();
    else if (kind === 'prompts') notify?.promptsChanged();
    else notify?.resourcesChanged();
  }
}
