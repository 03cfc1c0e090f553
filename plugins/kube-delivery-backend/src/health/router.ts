import type {
  AuditorService,
  HttpAuthService,
} from '@backstage/backend-plugin-api';
import { InputError } from '@backstage/errors';
import express from 'express';
import Router from 'express-promise-router';
import { actorOf } from '../http/actor';
import { runAudited } from '../http/audited';
import { readBody } from '../http/body';
import { EVENT_CURSOR } from './HealthStore';
import type { HealthService } from './HealthService';

const MAX_PAGE = 100;

/**
 * `GET|POST /environments/:name/health` and `GET /environments/:name/history`.
 * Every route needs user or service credentials.
 */
export function createHealthRouter(options: {
  httpAuth: HttpAuthService;
  auditor: AuditorService;
  health: HealthService;
}): express.Router {
  const { httpAuth, auditor, health } = options;
  const router = Router();

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

  router.get('/environments/:name/history', async (req, res) => {
    await httpAuth.credentials(req, { allow: ['user', 'service'] });
    const query = readBody(req.query, {
      limit: 'optional',
      before: 'optional',
    });
    const limit = query.limit === undefined ? 20 : Number(query.limit);
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_PAGE) {
      throw new InputError(`limit must be an integer from 1 to ${MAX_PAGE}`);
    }
    if (query.before !== undefined && !EVENT_CURSOR.test(query.before)) {
      throw new InputError(
        'before must be a nextCursor value from an earlier page',
      );
    }
    res.json(
      await health.history({
        environment: req.params.name,
        limit,
        before: query.before,
      }),
    );
  });

  return router;
}
