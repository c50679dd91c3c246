/**
 * Admin HTTP API.
 *
 * @module
 */

export { adminHandler, type AdminView } from "./server.ts";
