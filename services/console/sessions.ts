import { randomBytes } from 'node:crypto';
import type { Principal } from '../../runtime/auth.ts';

/** A signed-in person: the key they presented (forwarded to the services), who it is, a token for forms. */
export interface Session {
  readonly id: string;
  readonly key: string;
  readonly principal: Principal;
  /** Sent back by every form that changes something, beside the SameSite=Strict cookie. */
  readonly formToken: string;
  lastUsed: number;
}

/**
 * Sessions in memory: the cookie carries only a random id (signed), never the key, so the key
 * stays on the server. A restart signs everyone out, which a console of a few operators can bear.
 */
export class SessionStore {
  private readonly sessions = new Map<string, Session>();
  constructor(private readonly idleMs: number) {}

  create(key: string, principal: Principal, now: number): Session {
    const session: Session = { id: randomBytes(24).toString('base64url'), key, principal, formToken: randomBytes(16).toString('base64url'), lastUsed: now };
    this.sessions.set(session.id, session);
    return session;
  }

  get(id: string | undefined, now: number): Session | undefined {
    if (!id) return undefined;
    const session = this.sessions.get(id);
    if (!session) return undefined;
    if (now - session.lastUsed > this.idleMs) {
      this.sessions.delete(id);
      return undefined;
    }
    session.lastUsed = now;
    return session;
  }

  end(id: string | undefined): void {
    if (id) this.sessions.delete(id);
  }
}
