export {
  ApprovalService,
  APPROVAL_EXPIRY_TASK_ID,
  EXPIRY_ACTOR,
  type ApprovalBypass,
  type ApprovalRequest,
} from './ApprovalService';
export { addApprovalRoutes, bypassOf } from './router';
export {
  DEFAULT_EXPIRY_MINUTES,
  readApprovalSettings,
  type ApprovalSettings,
} from './settings';
