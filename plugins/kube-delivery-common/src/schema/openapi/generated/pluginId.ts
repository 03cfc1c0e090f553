export const pluginId = 'kube-delivery';
