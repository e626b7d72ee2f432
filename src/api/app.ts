import { Hono } from 'hono';
import type { Coordinator } from '../coordinator/coordinator.ts';
import type { GarbageCollector } from '../coordinator/retention.ts';
import { isUnstorableText, StoreUnavailable } from '../store/store-errors.ts';
import type { Db } from '../store/store.ts';
import type { Mirrors } from '../vcs/mirrors.ts';
import { agentRoutes } from './agent-routes.ts';
import { AgentFiles, type AgentFileOptions } from './agent-files.ts';
import { fail } from './errors.ts';
import { gcRoutes } from './gc-routes.ts';
import { metricsRoutes } from './metrics.ts';
import { RegistrationTokens, type RegistrationPolicy } from './registration-tokens.ts';
import { secretRoutes } from './secret-routes.ts';
import { openApiRoutes } from './openapi.ts';
import { tryRoutes } from './try-routes.ts';
import { userRoutes, type UserAccess } from './user-routes.ts';
import { webUi } from './web-ui.ts';
import type { ServerTrust } from './worker-url.ts';
import { workerRoutes } from './worker-routes.ts';

/**
 * The coordinator's HTTP surface: the worker protocol, the user API (with tries and fetches when it has `mirrors`) and the web UI.
 * `files.trust`: the certificate an HTTPS coordinator serves, which the bootstrap pins.
 */
export function createApp(coordinator: Coordinator, db: Db, access?: UserAccess, registration?: RegistrationPolicy, files: AgentFileOptions & { trust?: ServerTrust } = {}, mirrors?: Mirrors, collector?: GarbageCollector): Hono {
  const app = new Hono();
  const tokens = registration && new RegistrationTokens(db, registration);
  app.route('/api/v1/worker', workerRoutes(coordinator, tokens));
  if (tokens) app.route('/api/v1/agent', agentRoutes(new AgentFiles(files), tokens, files.trust));
  app.route('/api/v1', userRoutes(coordinator, db, access));
  app.route('/api/v1', secretRoutes(db, coordinator.stateDir, access ?? { anonymousRead: false }));
  app.route('/api/v1', gcRoutes(db, access ?? { anonymousRead: false }, collector));
  if (mirrors) app.route('/api/v1', tryRoutes(coordinator, db, access ?? { anonymousRead: false }, mirrors));
  app.route('/api/v1', openApiRoutes());
  app.route('/', metricsRoutes(db, access));
  app.route('/', webUi());
  app.notFound((c) => fail(c, 404, `no route ${c.req.method} ${c.req.path.slice(0, 200)}`));
  const storeFaults = new RepeatFilter(60_000);
  app.onError((error, c) => {
    const what = `${c.req.method} ${c.req.path.slice(0, 200)}`;
    if (error instanceof StoreUnavailable) {
      // Every request fails alike while the store is unavailable: the operator hears of it
      // once a minute, the client is told to come back.
      if (storeFaults.fresh(error.message)) coordinator.reportFault(what, error);
      c.header('retry-after', String(error.retryAfterSeconds));
      return fail(c, 503, error.message);
    }
    if (isUnstorableText(error)) return fail(c, 400, 'a value in the request holds a NUL character, which is never part of a name or an id');
    coordinator.reportFault(what, error);
    return fail(c, 500, 'internal error; the coordinator logged it');
  });
  return app;
}

/** Lets a message through when it differs from the last one, or when that was long ago. */
class RepeatFilter {
  readonly #intervalMs: number;
  #last = { message: '', at: -Infinity };

  constructor(intervalMs: number) {
    this.#intervalMs = intervalMs;
  }

  fresh(message: string, now = Date.now()): boolean {
    if (message === this.#last.message && now - this.#last.at < this.#intervalMs) return false;
    this.#last = { message, at: now };
    return true;
  }
}
