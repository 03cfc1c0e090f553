export * from './DeliveryStore';
export type { ApprovalEventInput } from './approvalEvents';
