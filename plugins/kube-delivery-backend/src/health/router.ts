import type {
  AuditorService,
  HttpAuthService,
} from '@backstage/backend-plugin-api';
import type { ApiRouter } from '../http/apiRouter';
import { actorOf } from '../http/actor';
import { runAudited } from '../http/audited';
import type { HealthService } from './HealthService';

/**
 * `GET|POST /environments/:name/health`, with user or service credentials:
 * the latest check, or a check now (audited).
 */
export function addHealthRoutes(
  router: ApiRouter,
  options: {
  httpAuth: HttpAuthService;
  auditor: AuditorService;
  health: HealthService;
  },
): void {
  const { httpAuth, auditor, health } = options;

  router.get('/environments/:name/health', async (req, res) => {
    const credentials = await httpAuth.credentials(req, {
      allow: ['user', 'service'],
    });
    res.json(await health.latest(req.params.name, actorOf(credentials)));
  });

  router.post('/environments/:name/health', async (req, res) => {
    const credentials = await httpAuth.credentials(req, {
      allow: ['user', 'service'],
    });
    health.environment(req.params.name);
    const result = await runAudited(
      auditor,
      {
        request: req,
        eventId: 'environment-health-check',
        severityLevel: 'low',
        meta: { environment: req.params.name },
        successMeta: checked => ({ status: checked.status }),
      },
      () => health.check(req.params.name, actorOf(credentials)),
    );
    res.json(result);
  });

}
