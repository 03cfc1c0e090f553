import { useMemo, useState } from 'react';
import {
  EmptyState,
  InfoCard,
  Progress,
  ResponseErrorPanel,
} from '@backstage/core-components';
import { identityApiRef, useApi } from '@backstage/core-plugin-api';
import { stringifyEntityRef } from '@backstage/catalog-model';
import { useEntity } from '@backstage/plugin-catalog-react';
import Box from '@material-ui/core/Box';
import Grid from '@material-ui/core/Grid';
import Typography from '@material-ui/core/Typography';
import Alert from '@material-ui/lab/Alert';
import {
  kubeDeliveryDeployPermission,
  kubeDeliveryRouteAdminPermission,
  kubeDeliveryRoutePermission,
  type Environment,
  type RouteRule,
} from '@internal/plugin-kube-delivery-common';
import { kubeDeliveryApiRef, type NewRouteRule } from '../../api';
import { useLoad, usePolledAsync } from '../../hooks/usePolledAsync';
import { ConfirmDialog } from '../common/ConfirmDialog';
import { OutcomeAlert } from '../common/OutcomeAlert';
import { reasonOf } from '../common/format';
import { useActions } from '../common/useActions';
import { useTargetPermission } from '../common/useTargetPermission';
import { AddRuleDialog } from './AddRuleDialog';
import { BranchCard } from './BranchCard';
import {
  branchesOf,
  ruleText,
  type BranchView,
  type ListedRule,
} from './branches';
import { RouteTester } from './RouteTester';
import { routingKeyOf } from './routingKey';

/** Branch states and rules are read again this often. */
export const BRANCHES_POLL_INTERVAL_MS = 5000;
/** "Extend" moves the expiry to this long from now. */
const EXTEND_MINUTES = 480;
/** Deployments read to find the branches; older branches show through their rules. */
const HISTORY_DEPTH = 100;

/**
 * The Feature branches tab: per environment that takes feature branches,
 * the branch deployments with their state and routing rules, adding a rule
 * for yourself, extending and removing rules and branches, and the route
 * tester.
 */
export const FeatureBranchesContent = () => {
  const { entity } = useEntity();
  const entityRef = stringifyEntityRef(entity);
  // Stable between polls: the add-rule form resets when it changes.
  const routing = useMemo(() => routingKeyOf(entity), [entity]);
  const api = useApi(kubeDeliveryApiRef);
  const [adding, setAdding] = useState<BranchView>();
  const [removing, setRemoving] = useState<BranchView>();
  const [addError, setAddError] = useState<string>();

  const { value, loading, error, retry } = usePolledAsync(
    async () => {
      const [environments, deployments, rules, routeChanges] =
        await Promise.all([
          api.listEnvironments(),
          api.listDeployments(entityRef, { limit: HISTORY_DEPTH }),
          api.listRoutes(entityRef),
          // Branch removals, so that a removed branch's deployments no longer show it.
          api.getHistory(entityRef, {
            kind: 'route-changed',
            limit: HISTORY_DEPTH,
          }),
        ]);
      return {
        environments,
        deployments: deployments.items,
        rules,
        routeChanges: routeChanges.items,
      };
    },
    BRANCHES_POLL_INTERVAL_MS,
    [api, entityRef],
  );

  const { busy, outcome, setOutcome, act } = useActions(retry);

  if (loading) return <Progress />;
  if (!value) {
    return (
      <ResponseErrorPanel
        title="Feature branches could not be read; reload the page, or ask your platform team if it persists"
        error={error ?? new Error('No answer')}
      />
    );
  }
  const environments = value.environments.filter(e => e.featureBranches);
  if (environments.length === 0) {
    return (
      <EmptyState
        missing="data"
        title="No environment takes feature branches"
        description="Ask your platform team to set featureBranches: true on an environment (e.g. dev) under kubeDelivery in app-config.yaml."
      />
    );
  }
  const branches = branchesOf(
    entity.metadata.name,
    value.deployments,
    value.rules,
    value.routeChanges,
  );

  const addRule = async (rule: NewRouteRule) => {
    const ok = await act(
      () => api.createRoute(entityRef, rule),
      // A branch not deployed there yet: accepted, with the API's warning.
      created => {
        const { warnings = [] } = created as { warnings?: string[] };
        return warnings.length > 0
          ? `Rule added for ${rule.key}=${rule.value}, but ${warnings.join(
              '; ',
            )}.`
          : `Rule added: requests with ${rule.key}=${rule.value} now go to ${rule.branch} in ${rule.environment}.`;
      },
      setAddError,
    );
    if (ok) setAdding(undefined);
  };
  const extend = (rule: RouteRule) =>
    act(
      () => api.extendRoute(entityRef, rule.id, EXTEND_MINUTES),
      `Rule ${ruleText(rule)} now expires in 8 hours.`,
    );
  const removeRule = (rule: RouteRule) =>
    act(
      () => api.deleteRoute(entityRef, rule.id),
      `Rule ${ruleText(rule)} removed.`,
    );
  const removeBranch = (view: BranchView) => {
    setRemoving(undefined);
    act(
      () => api.removeBranch(entityRef, view.environment, view.branch),
      removal =>
        `Branch ${view.branch} removed from ${view.environment}: ${[
          ...removal.objects,
          `${removal.rules.length} rule${
            removal.rules.length === 1 ? '' : 's'
          }`,
        ].join(', ')}.`,
    );
  };

  return (
    <Grid container spacing={3}>
      <Grid item xs={12} lg={8}>
        {error && (
          <Box mb={2}>
            <Alert severity="warning">
              Could not refresh: {reasonOf(error)}
            </Alert>
          </Box>
        )}
        <OutcomeAlert
          outcome={outcome}
          onClose={() => setOutcome(undefined)}
          spacing={{ mb: 2 }}
        />
        {environments.map(environment => (
          <EnvironmentBranches
            key={environment.name}
            entityRef={entityRef}
            environment={environment}
            branches={branches.filter(b => b.environment === environment.name)}
            busy={busy}
            onAddRule={view => {
              setAddError(undefined);
              setAdding(view);
            }}
            onExtend={extend}
            onRemoveRule={removeRule}
            onRemoveBranch={setRemoving}
          />
        ))}
      </Grid>
      <Grid item xs={12} lg={4}>
        <RouteTester
          entityRef={entityRef}
          environments={environments}
          routing={routing}
        />
      </Grid>
      <AddRuleDialog
        open={adding !== undefined}
        environment={adding?.environment ?? ''}
        branch={adding?.branch ?? ''}
        routing={routing}
        error={addError}
        busy={busy}
        onClose={() => setAdding(undefined)}
        onAdd={addRule}
      />
      <ConfirmDialog
        open={removing !== undefined}
        title={`Remove branch ${removing?.branch ?? ''} from ${
          removing?.environment ?? ''
        }?`}
        confirmLabel="Remove branch"
        onCancel={() => setRemoving(undefined)}
        onConfirm={() => removing && removeBranch(removing)}
      >
        Its Deployment, Service and routing rules are deleted; requests that
        matched its rules go to the mainline again.
      </ConfirmDialog>
    </Grid>
  );
};

/**
 * The branches of one environment, with the actions the policy allows there:
 * rules (the route permission) and removing a branch, which deletes its
 * workloads (the route and the deploy permission).
 */
function EnvironmentBranches(props: {
  entityRef: string;
  environment: Environment;
  branches: BranchView[];
  busy: boolean;
  onAddRule: (view: BranchView) => void;
  onExtend: (rule: RouteRule) => void;
  onRemoveRule: (rule: RouteRule) => void;
  onRemoveBranch: (view: BranchView) => void;
}) {
  const { entityRef, environment, branches } = props;
  const target = { environment: environment.name, entityRef };
  const canRoute = useTargetPermission(kubeDeliveryRoutePermission, target);
  const canDeploy = useTargetPermission(kubeDeliveryDeployPermission, target);
  // Others' rules are changed by route admins only; one's own by oneself.
  const canRouteAdmin = useTargetPermission(
    kubeDeliveryRouteAdminPermission,
    target,
  );
  const identityApi = useApi(identityApiRef);
  const { value: identity } = useLoad(
    () => identityApi.getBackstageIdentity(),
    [identityApi],
  );
  const canChangeRule = (rule: ListedRule) =>
    canRouteAdmin || rule.owner === identity?.userEntityRef;
  return (
    <Box mb={3}>
      <InfoCard title={`Feature branches in ${environment.name}`}>
        {branches.length === 0 ? (
          <Typography variant="body2">
            No branch deployed in {environment.name}. Create a release with a
            pre-release version (e.g. 0.1.5-myfeature) in CI and deploy it to{' '}
            {environment.name} from the Environments tab.
          </Typography>
        ) : (
          branches.map(view => (
            <Box mb={2} key={view.slug}>
              <BranchCard
                view={view}
                canRoute={canRoute}
                canChangeRule={canChangeRule}
                canRemoveBranch={canRoute && canDeploy}
                busy={props.busy}
                onAddRule={() => props.onAddRule(view)}
                onExtend={props.onExtend}
                onRemoveRule={props.onRemoveRule}
                onRemoveBranch={() => props.onRemoveBranch(view)}
              />
            </Box>
          ))
        )}
      </InfoCard>
    </Box>
  );
}
