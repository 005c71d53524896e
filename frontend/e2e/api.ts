// Setting the stage through the API, as a script would: faster than clicking, and the pages
// under test then show what the API holds.
export class Api {
  private token = "";

  private constructor(
    private readonly base: string,
    private readonly username: string,
    private readonly password: string,
  ) {}

  static async login(base: string, username: string, password: string): Promise<Api> {
    const api = new Api(base, username, password);
    await api.signIn();
    return api;
  }

  private async signIn() {
    const response = await fetch(`${this.base}/api/v1/auth/login`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ username: this.username, password: this.password }),
    });
    if (!response.ok) throw new Error(`login: ${response.status} ${await response.text()}`);
    this.token = ((await response.json()) as { access_token: string }).access_token;
  }

  async call<T>(method: string, path: string, body?: unknown): Promise<T> {
    const send = () =>
      fetch(`${this.base}/api/v1${path}`, {
        method,
        headers: {
          Authorization: `Bearer ${this.token}`,
          ...(body === undefined ? {} : { "Content-Type": "application/json" }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    let response = await send();
    if (response.status === 401) {
      // The stack's access tokens are short-lived; a script simply signs in again.
      await this.signIn();
      response = await send();
    }
    if (!response.ok)
      throw new Error(`${method} ${path}: ${response.status} ${await response.text()}`);
    return (await response.json()) as T;
  }

  /** Waits until the job is finished; returns it. */
  async finished(
    jobId: string,
    timeoutMs = 180_000,
  ): Promise<{ status: string; counts: Record<string, number> }> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const job = await this.call<{ status: string; counts: Record<string, number> }>(
        "GET",
        `/jobs/${jobId}`,
      );
      if (!["pending", "running"].includes(job.status)) return job;
      if (Date.now() > deadline) throw new Error(`job ${jobId} still ${job.status}`);
      await new Promise((done) => setTimeout(done, 500));
    }
  }
}
