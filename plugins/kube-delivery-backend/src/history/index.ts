export { DatabaseHistoryStore, type HistoryStore } from './HistoryStore';
export { addHistoryRoutes } from './router';
