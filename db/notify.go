package db

// MartsRefreshed is the PostgreSQL NOTIFY channel UpsertCdm signals on
// after each refresh of the marts, with the batch id as payload. The read
// API listens on it to drop the answers it keeps (dashboard/apicache.go).
const MartsRefreshed = "orderflow_marts_refreshed"
