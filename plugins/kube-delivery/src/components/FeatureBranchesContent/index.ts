export { FeatureBranchesContent } from './FeatureBranchesContent';
