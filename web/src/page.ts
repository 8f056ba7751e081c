/** One section of the dashboard: built once, refreshed by polling while shown. */
export interface Page {
  title: string;
  mount(el: HTMLElement, arg: string): void;
  refresh(): Promise<void>;
  resize?(): void;
  unmount?(): void;
}
