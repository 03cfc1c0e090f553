export { ApprovalActions, isWaitingForApproval } from './ApprovalActions';
