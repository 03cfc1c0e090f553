export {
  EnvironmentEvents,
  EVENT_CURSOR,
  EVENTS_TABLE,
  eventRow,
  promotionRefusedEvent,
  toEvent,
  type EventRecorder,
  type EventRow,
  type PromotionRefusal,
} from './EnvironmentEvents';
export { addEventRoutes } from './router';
export type {
  EnvironmentEvent,
  EnvironmentEventKind,
  EnvironmentEventPage,
  NewEnvironmentEvent,
} from './types';
