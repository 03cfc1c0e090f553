export { DeliveriesTable } from './DeliveriesContent';
export {
  DeliveriesPage,
  DeliveriesPageContent,
  EntityDeliveriesContent,
} from './DeliveriesPage';
