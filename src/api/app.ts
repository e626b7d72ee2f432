import { Hono } from 'hono';
import type { Coordinator } from '../coordinator/coordinator.ts';
import type { Db } from '../store/store.ts';
import { fail } from './errors.ts';
import { metricsRoutes } from './metrics.ts';
import { openApiRoutes } from './openapi.ts';
import { userRoutes, type UserAccess } from './user-routes.ts';
import { webUi } from './web-ui.ts';
import { workerRoutes } from './worker-routes.ts';

/** The coordinator's HTTP surface: the worker protocol, the user API and the web UI. */
export function createApp(coordinator: Coordinator, db: Db, access?: UserAccess): Hono {
  const app = new Hono();
  app.route('/api/v1/worker', workerRoutes(coordinator));
  app.route('/api/v1', userRoutes(coordinator, db, access));
  app.route('/api/v1', openApiRoutes());
  app.route('/', metricsRoutes(db, access));
  app.route('/', webUi());
  app.notFound((c) => fail(c, 404, `no route ${c.req.method} ${c.req.path.slice(0, 200)}`));
  app.onError((error, c) => {
    coordinator.reportFault(`${c.req.method} ${c.req.path.slice(0, 200)}`, error);
    return fail(c, 500, 'internal error; the coordinator logged it');
  });
  return app;
}
