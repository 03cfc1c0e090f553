import type { LoggerService } from '@backstage/backend-plugin-api';
import express from 'express';
import Router from 'express-promise-router';

export async function createRouter(_options: {
  logger: LoggerService;
}): Promise<express.Router> {
  const router = Router();
  router.use(express.json());
  return router;
}
