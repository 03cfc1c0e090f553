export {
  createContainerFeed,
  RegistryContainerFeed,
  MANIFEST_MEDIA_TYPES,
  type ContainerFeed,
  type ContainerFeedOptions,
  type FeedTag,
} from './ContainerFeed';
export { readRegistryConfigs, type RegistryConfig } from './config';
export {
  parseImageRepository,
  assertTag,
  type ImageRepository,
} from './imageReference';
