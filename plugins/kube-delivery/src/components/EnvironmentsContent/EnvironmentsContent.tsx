import {
  EmptyState,
  Progress,
  ResponseErrorPanel,
} from '@backstage/core-components';
import { useApi } from '@backstage/core-plugin-api';
import { stringifyEntityRef } from '@backstage/catalog-model';
import { useEntity } from '@backstage/plugin-catalog-react';
import type { ComponentProps } from 'react';
import Box from '@material-ui/core/Box';
import Grid from '@material-ui/core/Grid';
import Alert from '@material-ui/lab/Alert';
import {
  kubeDeliveryCertificatePermission,
  kubeDeliveryDeployPermission,
  kubeDeliveryRollbackPermission,
} from '@internal/plugin-kube-delivery-common';
import { kubeDeliveryApiRef } from '../../api';
import { useDeliveryChanges } from '../../hooks/useDeliveryChanges';
import { usePolledAsync } from '../../hooks/usePolledAsync';
import { EnvironmentCard } from './EnvironmentCard';
import { reasonOf } from '../common/format';
import { useTargetPermission } from '../common/useTargetPermission';

/** How often the live status is read again. */
export const POLL_INTERVAL_MS = 3000;

/** The Environments tab: one card per environment, in lifecycle order, live. */
export const EnvironmentsContent = () => {
  const { entity } = useEntity();
  const entityRef = stringifyEntityRef(entity);
  const api = useApi(kubeDeliveryApiRef);

  const { value, loading, error, retry } = usePolledAsync(
    async () => {
      const [environments, statuses] = await Promise.all([
        api.listEnvironments(),
        api.getStatus(entityRef),
      ]);
      return { environments, statuses };
    },
    POLL_INTERVAL_MS,
    [api, entityRef],
    useDeliveryChanges(entityRef),
  );

  if (loading) return <Progress />;
  if (!value) {
    return error ? (
      <ResponseErrorPanel
        title="Environments could not be read; reload the page, or ask your platform team if it persists"
        error={error}
      />
    ) : null;
  }
  if (value.environments.length === 0) {
    return (
      <EmptyState
        missing="data"
        title="No environments configured"
        description="Ask your platform team to add environments and a lifecycle under kubeDelivery in app-config.yaml."
      />
    );
  }

  const byName = new Map(value.statuses.map(s => [s.environment, s]));
  return (
    <Box>
      {error && (
        <Box mb={2}>
          <Alert severity="warning">
            Live status could not be refreshed: {reasonOf(error)}
          </Alert>
        </Box>
      )}
      <Grid container spacing={3} alignItems="stretch">
        {value.environments.map((environment, index) => (
          <Grid item xs={12} md={6} lg={4} key={environment.name}>
            <PermittedEnvironmentCard
              entityRef={entityRef}
              environment={environment}
              previous={index > 0 ? value.environments[index - 1] : undefined}
              status={byName.get(environment.name)}
              onChanged={retry}
            />
          </Grid>
        ))}
      </Grid>
    </Box>
  );
};

/**
 * A card with the actions the policy allows in its environment: deploy,
 * promote and restart (the deploy permission), roll back, and certificates
 * (a permission on the environment itself, not on one service).
 */
function PermittedEnvironmentCard(
  props: Omit<
    ComponentProps<typeof EnvironmentCard>,
    'canDeploy' | 'canRollback' | 'canUploadCertificate'
  >,
) {
  const environment = props.environment.name;
  const target = { environment, entityRef: props.entityRef };
  const canDeploy = useTargetPermission(kubeDeliveryDeployPermission, target);
  const canRollback = useTargetPermission(
    kubeDeliveryRollbackPermission,
    target,
  );
  const canUploadCertificate = useTargetPermission(
    kubeDeliveryCertificatePermission,
    { environment },
  );
  return (
    <EnvironmentCard
      {...props}
      canDeploy={canDeploy}
      canRollback={canRollback}
      canUploadCertificate={canUploadCertificate}
    />
  );
}
