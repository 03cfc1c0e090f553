import type { ApprovalEventKind } from '@internal/plugin-kube-delivery-common';

/** What an environment timeline event tells of. */
export type EnvironmentEventKind =
  | 'health-changed'
  | 'promotion-refused'
  | 'route-changed'
  | 'certificate-changed'
  | ApprovalEventKind;

/** One entry of an environment's timeline. */
export interface EnvironmentEvent {
  id: string;
  environment: string;
  kind: EnvironmentEventKind;
  /** The service the event concerns; absent for environment-wide events. */
  entityRef?: string;
  message: string;
  details: Record<string, unknown>;
  actor: string;
  /** ISO 8601. */
  createdAt: string;
}

export type NewEnvironmentEvent = Omit<EnvironmentEvent, 'id' | 'createdAt'>;

export interface EnvironmentEventPage {
  items: EnvironmentEvent[];
  /** Pass as `before` to get the next (older) page. */
  nextCursor?: string;
}
