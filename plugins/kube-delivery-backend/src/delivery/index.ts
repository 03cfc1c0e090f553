export { DeliveryService, type EnvironmentStatus } from './DeliveryService';
export { DeploymentRunner } from './DeploymentRunner';
export { renderSnapshot } from './renderSnapshot';
export { ReleaseService } from './ReleaseService';
