export { DatabaseHistoryStore, type HistoryStore } from './HistoryStore';
export { createHistoryRouter } from './router';
