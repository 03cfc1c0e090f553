import { Progress, ResponseErrorPanel } from '@backstage/core-components';
import { useApi } from '@backstage/core-plugin-api';
import { kubeDeliveryApiRef } from '../../api';
import { useLoad } from '../../hooks/usePolledAsync';
import { ManifestDiff } from './ManifestDiff';

/** Loads two releases of a service and shows what changed from one to the other. */
export function ReleaseComparison(props: {
  entityRef: string;
  fromId: string;
  toId: string;
}) {
  const { entityRef, fromId, toId } = props;
  const api = useApi(kubeDeliveryApiRef);
  const { value, error, loading } = useLoad(
    () =>
      Promise.all([
        api.getRelease(entityRef, fromId),
        api.getRelease(entityRef, toId),
      ]),
    [api, entityRef, fromId, toId],
  );
  if (loading) return <Progress />;
  if (error || !value) {
    return (
      <ResponseErrorPanel
        title="The releases could not be compared; try again, or check that both still exist"
        error={error ?? new Error('No answer')}
      />
    );
  }
  return <ManifestDiff from={value[0]} to={value[1]} />;
}
