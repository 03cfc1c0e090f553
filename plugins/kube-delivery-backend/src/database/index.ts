export * from './DeliveryStore';
