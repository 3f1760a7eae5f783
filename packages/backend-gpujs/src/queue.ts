/** The backend's serial queue: core's, shared with the other asynchronous backends (failures sticky). */
export { SerialQueue } from '@rbmjs/core/backend';
