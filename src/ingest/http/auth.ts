import { decodeBasic, matchesAnyDigest, secretDigest } from '../../common/secrets';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import type { HttpAuthConfig } from '../../config/schema';
import type { IngestCounters } from '../../telemetry/counters';
import type { RateLimitedLog } from '../../telemetry/rate-limited-log';
import { AddressAllowList } from '../../common/cidr';
import { clientAddress } from './client-address';
import { HttpError, HttpErrorCode } from './http-error';


/**
 * Credentials for one endpoint group: Hosted-Graphite API keys (as the Basic
 * username, password empty, or as a Bearer token), Basic user/password pairs,
 * and an optional client address allow-list. Secrets are held only as digests
 * and never logged.
 */
export class Authenticator {
  private readonly keys: Buffer[];
  /** Digests of `user\0password`. */
  private readonly users: Buffer[];
  private readonly allowList: AddressAllowList;
  readonly asksForCredentials: boolean;

  constructor(
    config: HttpAuthConfig | undefined,
    private readonly realm: string,
    private readonly deps: { counters: IngestCounters; limited: RateLimitedLog },
  ) {
    this.keys = (config?.apiKeys ?? []).map(secretDigest);
    this.users = (config?.users ?? []).map((u) => secretDigest(`${u.user}\0${u.password}`));
    this.allowList = new AddressAllowList(config?.allow ?? []);
    this.asksForCredentials = this.keys.length > 0 || this.users.length > 0;
  }

  middleware(): RequestHandler {
    return (req: Request, _res: Response, next: NextFunction) => {
      this.check(clientAddress(req), req.headers.authorization, req.path);
      next();
    };
  }

  /** Throws 403 for a client address outside the allow-list, 401 (with a challenge) for missing or wrong credentials; both counted and logged. */
  check(peer: string, authorization: string | undefined, path: string): void {
    if (!this.allowList.allows(peer)) {
      this.deps.counters.httpUnauthorized++;
      this.deps.limited.warn(`http:${peer}:forbidden`, 'HTTP client address not allowed', { peer, path });
      throw new HttpError(403, HttpErrorCode.FORBIDDEN, `client address ${peer} is not allowed`);
    }
    if (!this.asksForCredentials) return;
    const problem = this.credentialProblem(authorization);
    if (problem === undefined) return;
    this.deps.counters.httpUnauthorized++;
    this.deps.limited.warn(`http:${peer}:unauthorized`, 'HTTP authentication failed', { peer, path, problem });
    throw new HttpError(401, HttpErrorCode.UNAUTHORIZED, `unauthorized: ${problem}`, { headers: { 'WWW-Authenticate': `Basic realm="${this.realm}", charset="UTF-8"` } });
  }

  /** Why the Authorization header does not authenticate, or undefined when it does. Never includes the secret. */
  private credentialProblem(header: string | undefined): string | undefined {
    if (header === undefined || header === '') return 'credentials required (HTTP Basic with the API key as username, or Bearer)';
    const space = header.indexOf(' ');
    const scheme = (space < 0 ? header : header.slice(0, space)).toLowerCase();
    const value = space < 0 ? '' : header.slice(space + 1).trim();
    if (scheme === 'bearer') {
      // Grafana Cloud clients send `Bearer <user>:<token>`; both checks always run
      const colon = value.indexOf(':');
      const byKey = matchesAnyDigest(this.keys, value);
      const byUser = colon > 0 && matchesAnyDigest(this.users, `${value.slice(0, colon)}\0${value.slice(colon + 1)}`);
      return byKey || byUser ? undefined : 'invalid token';
    }
    if (scheme !== 'basic') return `unsupported authorization scheme "${scheme.slice(0, 20)}"`;
    const { user, password } = decodeBasic(value);
    // both checks always run, so timing does not tell keys from users
    const byKey = password === '' && matchesAnyDigest(this.keys, user);
    const byUser = matchesAnyDigest(this.users, `${user}\0${password}`);
    return byKey || byUser ? undefined : 'invalid credentials';
  }
}
