import type { HttpAuthService } from '@backstage/backend-plugin-api';
import type { ApiRouter } from '../http/apiRouter';
import type { DeliveriesService } from './DeliveriesService';

const DEFAULT_LIMIT = 500;

/** The Deliveries matrix: any signed-in user or service, filtered to what it may read. */
export function addDeliveriesRoutes(
  router: ApiRouter,
  options: { httpAuth: HttpAuthService; deliveries: DeliveriesService },
): void {
  router.get('/deliveries', async (req, res) => {
    const credentials = await options.httpAuth.credentials(req, {
      allow: ['user', 'service'],
    });
    const { system, owner, lifecycle, limit } = req.query;
    res.json(
      await options.deliveries.matrix(
        { system, owner, lifecycle, limit: Number(limit ?? DEFAULT_LIMIT) },
        credentials,
      ),
    );
  });
}
