export { DeliveryService, type EnvironmentStatus } from './DeliveryService';
export { DeploymentRunner, renderSnapshot } from './DeploymentRunner';
export { ReleaseService } from './ReleaseService';
