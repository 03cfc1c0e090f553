export { ReleaseHistoryContent } from './ReleaseHistoryContent';
