import type {
  EnvironmentEvent,
  EnvironmentEventPage,
} from '@internal/plugin-kube-delivery-common';

// Defined once, in the API spec: what `GET /environments/{name}/events` answers.
export type { EnvironmentEvent, EnvironmentEventPage };

/** What an environment event records. */
export type EnvironmentEventKind = EnvironmentEvent['kind'];

export type NewEnvironmentEvent = Omit<EnvironmentEvent, 'id' | 'createdAt'>;
