export { DeliveryOverviewCard } from './DeliveryOverviewCard';
