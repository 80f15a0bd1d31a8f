/**
 * The dashboard's HTML pages. They are fixed markup — no user data is ever
 * rendered on the server; /static/app.js fills them in through the API — so
 * each page is one constant string, built once.
 */

/** One page of the dashboard. */
export interface DashboardPage {
  /** Express route (GET). */
  readonly route: string;
  /** `data-page` on <body>: which part of app.js runs. */
  readonly name: string;
  readonly title: string;
  /** Whether the page is for logged-in users (navigation, log-out button). */
  readonly loggedIn: boolean;
  readonly html: string;
}

const PRODUCT_FIELDS = `
  <div class="field"><label for="name">Name</label><input id="name" name="name" required maxlength="200" autocomplete="off"></div>
  <div class="field"><label for="price">Price</label><input id="price" name="price" type="number" required min="0" step="any" inputmode="decimal"></div>
  <div class="field"><label for="stock">Stock</label><input id="stock" name="stock" type="number" required min="0" step="1" inputmode="numeric"></div>
  <div class="field"><label for="category">Category</label><input id="category" name="category" required maxlength="100"></div>`;

const SHARD_NOTE =
  '<p class="hint">Products are stored on the shard whose name range holds the first letter of the name (A–M on rsA, N–Z on rsB in the reference topology); renaming across ranges moves the product and keeps its id.</p>';

const ACCOUNT_FIELDS = `
  <div class="field"><label for="username">Username</label><input id="username" name="username" required autocomplete="username"></div>
  <div class="field"><label for="email">Email</label><input id="email" name="email" type="email" required autocomplete="email"></div>
  <div class="field"><label for="password">Password</label><input id="password" name="password" type="password" required autocomplete="new-password"></div>`;

const BODIES = {
  login: `
<form id="login-form" method="post" class="card">
  <div class="field"><label for="username">Username</label><input id="username" name="username" required autocomplete="username"></div>
  <div class="field"><label for="password">Password</label><input id="password" name="password" type="password" required autocomplete="current-password"></div>
  <button type="submit">Log in</button>
</form>
<p>No account yet? <a href="/app/register">Register</a>.</p>`,

  register: `
<form id="register-form" method="post" class="card">${ACCOUNT_FIELDS}
  <button type="submit">Create account</button>
</form>
<p>Already registered? <a href="/app/login">Log in</a>.</p>`,

  dashboard: `
<form id="search-form" class="toolbar" role="search" method="get">
  <div class="field"><label for="q">Name contains</label><input id="q" name="q" type="search"></div>
  <div class="field"><label for="search-category">Category</label><input id="search-category" name="category" type="search"></div>
  <div class="field"><label for="page-size">Per page</label><select id="page-size" name="pageSize"><option>10</option><option>20</option><option>50</option><option>100</option></select></div>
  <button type="submit">Search</button>
  <a class="button secondary" href="/app/products/new">Add product</a>
</form>
<p id="partial" class="notice notice-warning" role="status" hidden></p>
<table id="products" aria-busy="true">
  <caption id="page-status">Loading…</caption>
  <thead><tr>
    <th scope="col" aria-sort="none"><button type="button" id="sort-name" class="sort">Name</button></th>
    <th scope="col" aria-sort="none" class="num"><button type="button" id="sort-price" class="sort">Price</button></th>
    <th scope="col" aria-sort="none" class="num"><button type="button" id="sort-stock" class="sort">Stock</button></th>
    <th scope="col">Category</th>
    <th scope="col">Shard</th>
    <th scope="col"><span class="visually-hidden">Actions</span></th>
  </tr></thead>
  <tbody id="product-rows"></tbody>
</table>
<nav class="pager" aria-label="Pages">
  <button type="button" id="previous" class="secondary" disabled>← Previous</button>
  <button type="button" id="next" class="secondary" disabled>Next →</button>
</nav>`,

  'product-new': `
<form id="product-form" method="post" class="card">${PRODUCT_FIELDS}
  <button type="submit">Create product</button> <a href="/app/">Cancel</a>
</form>
${SHARD_NOTE}`,

  'product-edit': `
<form id="product-form" method="post" class="card" hidden>
  <p>Stored on shard <strong id="current-shard" class="shard"></strong>.</p>${PRODUCT_FIELDS}
  <button type="submit">Save changes</button> <a href="/app/">Cancel</a>
</form>
${SHARD_NOTE}`,

  users: `
<div id="users-admin" hidden>
<table id="users">
  <thead><tr><th scope="col">Username</th><th scope="col">Email</th><th scope="col">Role</th><th scope="col">Created</th><th scope="col"><span class="visually-hidden">Actions</span></th></tr></thead>
  <tbody id="user-rows"></tbody>
</table>
<h2>Create a user</h2>
<form id="user-form" method="post" class="card">${ACCOUNT_FIELDS}
  <div class="field"><label for="role">Role</label><select id="role" name="role"><option value="user">user</option><option value="admin">admin</option></select></div>
  <button type="submit">Create user</button>
</form>
</div>`,
} as const;

const NAVIGATION = `
<nav aria-label="Main">
  <a href="/app/">Products</a>
  <a href="/app/products/new">Add product</a>
  <a href="/app/users" id="nav-users" hidden>Users</a>
  <a href="/docs">API</a>
</nav>
<span id="who" class="who"></span>
<button type="button" id="logout" class="secondary">Log out</button>`;

function page(route: string, name: keyof typeof BODIES, title: string, loggedIn: boolean): DashboardPage {
  const html = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title} · distctl products</title>
<link rel="stylesheet" href="/static/app.css">
<script src="/static/app.js" defer></script>
</head>
<body data-page="${name}">
<header class="top">
<a class="brand" href="/app/">distctl products</a>${loggedIn ? NAVIGATION : ''}
</header>
<main>
<h1>${title}</h1>
<noscript><p class="notice notice-error">This dashboard needs JavaScript; the JSON API is described at <a href="/docs">/docs</a>.</p></noscript>
<p id="notice" class="notice" role="alert" hidden></p>
${BODIES[name]}
</main>
</body>
</html>
`;
  return { route, name, title, loggedIn, html };
}

/** Every page, with its route. */
export const DASHBOARD_PAGES: readonly DashboardPage[] = [
  page('/app/login', 'login', 'Log in', false),
  page('/app/register', 'register', 'Register', false),
  page('/app', 'dashboard', 'Products', true),
  page('/app/products/new', 'product-new', 'Add product', true),
  page('/app/products/:id/edit', 'product-edit', 'Edit product', true),
  page('/app/users', 'users', 'Users', true),
];
