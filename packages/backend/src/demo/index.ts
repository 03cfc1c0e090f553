export {
  seedDemo,
  BOUTIQUE_SERVICES,
  BRANCH,
  BRANCH_ROUTES,
  CERTIFICATE_ENVIRONMENT,
  MAINLINE,
  NEXT,
  REDIS_CART,
  REDIS_RELEASE,
} from './seedDemo';
export type { SeedSummary } from './seedDemo';
