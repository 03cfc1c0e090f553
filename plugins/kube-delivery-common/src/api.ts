/**
 * The Kube Delivery API's types are generated from the backend's
 * `src/schema/openapi.yaml` (see `./schema/openapi`); this module adds the
 * lists of kinds that filters offer.
 */
import type {
  ApprovalHistoryEntry,
  GatewayCertificate,
  HistoryEntryKind,
} from './schema/openapi/generated/models';

/** Where a gateway certificate stands. @public */
export type CertificateStatus = GatewayCertificate['status'];

/**
 * What happened to the approval of a deployment into a protected
 * environment, as a Release history event. @public
 */
export type ApprovalEventKind = ApprovalHistoryEntry['kind'];

/** Every {@link ApprovalEventKind}. @public */
export const APPROVAL_EVENT_KINDS: readonly ApprovalEventKind[] = [
  'approval-requested',
  'approval-granted',
  'approval-rejected',
  'approval-expired',
  'approval-bypassed',
];

/** Every kind of Release history entry, for filters. @public */
export const HISTORY_ENTRY_KINDS: readonly HistoryEntryKind[] = [
  'deploy',
  'promote',
  'rollback',
  'restart',
  'route-changed',
  'certificate-changed',
  'promotion-refused',
  ...APPROVAL_EVENT_KINDS,
];
