export { DeliverySignals } from './DeliverySignals';
