import { Hono } from 'hono';
import type { Coordinator } from '../coordinator/coordinator.ts';
import { fail } from './errors.ts';
import { workerRoutes } from './worker-routes.ts';

/** The coordinator's HTTP surface. */
export function createApp(coordinator: Coordinator): Hono {
  const app = new Hono();
  app.route('/api/v1/worker', workerRoutes(coordinator));
  app.notFound((c) => fail(c, 404, `no route ${c.req.method} ${c.req.path.slice(0, 200)}`));
  app.onError((error, c) => {
    process.emitWarning(`slipway: ${c.req.method} ${c.req.path}: ${error.stack ?? error.message}`);
    return fail(c, 500, 'internal error; the coordinator logged it');
  });
  return app;
}
