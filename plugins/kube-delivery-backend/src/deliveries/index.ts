export { DeliveriesService } from './DeliveriesService';
export type {
  DeliveryCell,
  DeliveryMatrix,
  DeliveryRow,
  DeliveryState,
} from './DeliveriesService';
export { addDeliveriesRoutes } from './router';
