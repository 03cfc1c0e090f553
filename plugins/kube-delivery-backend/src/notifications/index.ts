export { DeliveryNotifier, ownerOf } from './DeliveryNotifier';
export { readNotificationSettings, type NotificationSettings } from './config';
export {
  NOTIFICATION_TOPICS,
  deploymentScope,
  entityTabLink,
  safeText,
  type DeploymentFacts,
  type ExpiringCertificate,
  type UnhealthyEnvironment,
} from './messages';
