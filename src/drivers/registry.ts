// The one place a provider or a cluster kind is looked up by its name. The workflows, services and
// validation ask a registry; none of them knows a driver by name, so adding EC2, OpenStack, an HPC
// site or Mesos is a new folder and one register() line in the composition root.
import { UnsupportedError } from '../domain/errors';

export class DriverRegistry<Key extends string, Driver> {
  private readonly drivers = new Map<Key, Driver>();

  /** what: "provider" or "cluster kind", for messages; field: the request field that names one. */
  constructor(private readonly what: string, private readonly field: string) {}

  register(key: Key, driver: Driver): this {
    if (this.drivers.has(key)) throw new Error(`${this.what} ${key} is registered twice`);
    this.drivers.set(key, driver);
    return this;
  }

  has(key: string): key is Key {
    return this.drivers.has(key as Key);
  }

  /** The driver, or UnsupportedError naming the field: a name the API knows but no driver serves. */
  get(key: Key): Driver {
    const driver = this.drivers.get(key);
    if (driver === undefined) {
      throw new UnsupportedError(this.field, `${this.field}: no ${this.what} driver for ${key} in this service (available: ${this.keys().join(', ') || 'none'})`);
    }
    return driver;
  }

  keys(): Key[] {
    return [...this.drivers.keys()];
  }
}
