/**
 * /static/app.js: the DOM side of the dashboard. Every page loads it; the
 * body's `data-page` picks what runs. It talks to the JSON API on the same
 * origin with the token kept in sessionStorage, renders data only through
 * textContent (never markup), and shows every API failure in words.
 *
 * Plain ES2017 without template literals (see client-core.ts for why).
 */
import { CORE_JS } from './client-core.js';

const UI_JS = String.raw`
var TOKEN_KEY = 'distctl.token';
var USER_KEY = 'distctl.user';
var FLASH_KEY = 'distctl.flash';

var LOGIN_REASONS = {
  expired: 'Your session has expired or is no longer valid; log in again.',
  loggedout: 'You have logged out.',
  registered: 'Account created; log in with it.'
};

function byId(id) {
  return document.getElementById(id);
}

/** An element with properties (aria-* as attributes); children are nodes or strings (as text, never markup). */
function h(tag, props, children) {
  var node = document.createElement(tag);
  Object.keys(props || {}).forEach(function (key) {
    if (key.indexOf('aria-') === 0) node.setAttribute(key, props[key]);
    else node[key] = props[key];
  });
  (children || []).forEach(function (child) {
    node.appendChild(typeof child === 'string' ? document.createTextNode(child) : child);
  });
  return node;
}

function storedUser() {
  try {
    return JSON.parse(sessionStorage.getItem(USER_KEY) || 'null');
  } catch (err) {
    return null;
  }
}

function toLogin(reason) {
  sessionStorage.removeItem(TOKEN_KEY);
  sessionStorage.removeItem(USER_KEY);
  location.assign('/app/login' + (reason ? '?reason=' + reason : ''));
}

/**
 * One API call. Resolves to {ok, status, body} or {ok: false, error}; a 401
 * on an authenticated call ends the session and goes back to the login page.
 */
function api(method, path, body, options) {
  var anonymous = options && options.anonymous;
  var headers = Object.assign({ accept: 'application/json' }, options && options.headers);
  if (body !== undefined) headers['content-type'] = 'application/json';
  var token = sessionStorage.getItem(TOKEN_KEY);
  if (!anonymous && token) headers.authorization = 'Bearer ' + token;
  var init = { method: method, headers: headers };
  if (body !== undefined) init.body = JSON.stringify(body);
  return fetch(path, init).then(function (response) {
    return response.text().then(function (text) {
      var parsed = null;
      try {
        parsed = text ? JSON.parse(text) : null;
      } catch (err) {
        parsed = null;
      }
      if (response.ok) return { ok: true, status: response.status, body: parsed };
      if (response.status === 401 && !anonymous) toLogin('expired');
      return { ok: false, status: response.status, body: parsed, error: core.describeError(response.status, parsed, response.headers.get('retry-after')) };
    });
  }, function (err) {
    return { ok: false, status: 0, error: core.describeError(0, { error: { message: String(err && err.message || err) } }, null) };
  });
}

function notice(text, kind) {
  var box = byId('notice');
  box.textContent = text;
  box.className = 'notice notice-' + (kind || 'error');
  box.hidden = !text;
}

function clearFieldErrors(form) {
  Array.prototype.forEach.call(form.elements, function (field) {
    field.removeAttribute('aria-invalid');
  });
}

/** Shows an API error; a 400 naming one of the form's fields marks and focuses it. */
function formError(form, error) {
  notice(error.message, 'error');
  var field = error.field && form.elements.namedItem(error.field);
  if (field && field.focus) {
    field.setAttribute('aria-invalid', 'true');
    field.focus();
  }
}

function formValues(form) {
  var values = {};
  new FormData(form).forEach(function (value, key) {
    values[key] = value;
  });
  return values;
}

/** Runs submit(form) with the submit button disabled so a double click cannot send twice. */
function onSubmit(form, submit) {
  form.addEventListener('submit', function (event) {
    event.preventDefault();
    clearFieldErrors(form);
    var button = form.querySelector('button[type=submit]');
    button.disabled = true;
    Promise.resolve().then(function () {
      return submit(form);
    }).catch(function (err) {
      // A bug in this script must not look like a form that silently did nothing.
      notice('The page failed: ' + String(err && err.message || err) + '. Reload and retry.', 'error');
    }).then(function () {
      button.disabled = false;
    });
  });
}

function flash(text) {
  sessionStorage.setItem(FLASH_KEY, text);
}

/** The navigation of logged-in pages: who is logged in, the admin link, log out. */
function initSession() {
  if (!sessionStorage.getItem(TOKEN_KEY)) {
    toLogin('');
    return false;
  }
  var user = storedUser();
  if (user) showUser(user);
  api('GET', '/me').then(function (result) {
    if (!result.ok) return;
    sessionStorage.setItem(USER_KEY, JSON.stringify({ username: result.body.username, role: result.body.role }));
    showUser(result.body);
  });
  byId('logout').addEventListener('click', function () {
    toLogin('loggedout');
  });
  return true;
}

function showUser(user) {
  byId('who').textContent = user.username + ' (' + user.role + ')';
  byId('nav-users').hidden = user.role !== 'admin';
}

var pages = {};

pages.login = function () {
  var reason = new URLSearchParams(location.search).get('reason');
  if (reason && LOGIN_REASONS[reason]) notice(LOGIN_REASONS[reason], 'info');
  var form = byId('login-form');
  onSubmit(form, function () {
    var values = formValues(form);
    return api('POST', '/auth/login', { username: values.username, password: values.password }, { anonymous: true }).then(function (result) {
      if (!result.ok) return formError(form, result.error);
      sessionStorage.setItem(TOKEN_KEY, result.body.token);
      sessionStorage.setItem(USER_KEY, JSON.stringify({ username: result.body.username, role: result.body.role }));
      location.assign('/app/');
    });
  });
};

pages.register = function () {
  var form = byId('register-form');
  onSubmit(form, function () {
    var values = formValues(form);
    var body = { username: values.username.trim(), email: values.email.trim(), password: values.password };
    return api('POST', '/auth/register', body, { anonymous: true }).then(function (result) {
      if (!result.ok) return formError(form, result.error);
      location.assign('/app/login?reason=registered');
    });
  });
};

pages.dashboard = function () {
  if (!initSession()) return;
  var state = core.parseListState(location.search);
  var form = byId('search-form');
  var message = sessionStorage.getItem(FLASH_KEY);
  if (message) {
    sessionStorage.removeItem(FLASH_KEY);
    notice(message, 'success');
  }

  function fillSearchForm() {
    form.elements.namedItem('q').value = state.q;
    form.elements.namedItem('category').value = state.category;
    form.elements.namedItem('pageSize').value = String(state.pageSize);
  }

  function go(next) {
    state = next;
    history.replaceState(null, '', '/app/?' + core.listQuery(state));
    load();
  }

  function load() {
    byId('products').setAttribute('aria-busy', 'true');
    api('GET', '/products?' + core.listQuery(state)).then(function (result) {
      byId('products').setAttribute('aria-busy', 'false');
      if (!result.ok) {
        notice(result.error.message, 'error');
        return;
      }
      render(result.body);
    });
  }

  function render(listing) {
    var banner = byId('partial');
    var partial = core.partialMessage(listing);
    banner.textContent = partial || '';
    banner.hidden = !partial;
    core.SORT_FIELDS.forEach(function (field) {
      var header = byId('sort-' + field).parentNode;
      header.setAttribute('aria-sort', state.sort !== field ? 'none' : state.order === 'asc' ? 'ascending' : 'descending');
    });
    var rows = listing.items.map(productRow);
    if (rows.length === 0) {
      rows = [h('tr', {}, [h('td', { colSpan: 6, className: 'empty' }, [state.q || state.category ? 'No product matches this search.' : 'No products yet.'])])];
    }
    byId('product-rows').replaceChildren.apply(byId('product-rows'), rows);
    var info = core.pageInfo(state, listing.total);
    byId('page-status').textContent = listing.total === 0 ? 'No products' :
      'Products ' + info.from + '–' + info.to + ' of ' + listing.total + ' · page ' + state.page + ' of ' + info.lastPage +
      (info.depthLimited ? ' (later pages: narrow the search)' : '');
    byId('previous').disabled = !info.hasPrevious;
    byId('next').disabled = !info.hasNext;
  }

  function productRow(product) {
    var remove = h('button', { type: 'button', className: 'link danger', textContent: 'Delete', 'aria-label': 'Delete ' + product.name });
    remove.addEventListener('click', function () {
      if (!confirm('Delete "' + product.name + '"?')) return;
      api('DELETE', '/products/' + encodeURIComponent(product.id)).then(function (result) {
        if (!result.ok) return notice(result.error.message, 'error');
        notice('Deleted "' + product.name + '" from ' + product.shard + '.', 'success');
        load();
      });
    });
    return h('tr', {}, [
      h('td', {}, [h('a', { href: core.editPath(product.id), textContent: product.name })]),
      h('td', { className: 'num', textContent: core.formatPrice(product.price) }),
      h('td', { className: 'num', textContent: String(product.stock) }),
      h('td', { textContent: product.category }),
      h('td', {}, [h('span', { className: 'shard', textContent: product.shard })]),
      h('td', {}, [remove])
    ]);
  }

  core.SORT_FIELDS.forEach(function (field) {
    byId('sort-' + field).addEventListener('click', function () {
      go(core.nextSort(state, field));
    });
  });
  form.addEventListener('submit', function (event) {
    event.preventDefault();
    var values = formValues(form);
    go(core.parseListState('?' + new URLSearchParams({
      q: values.q, category: values.category, pageSize: values.pageSize, sort: state.sort, order: state.order
    }).toString()));
  });
  byId('previous').addEventListener('click', function () {
    go(Object.assign({}, state, { page: state.page - 1 }));
  });
  byId('next').addEventListener('click', function () {
    go(Object.assign({}, state, { page: state.page + 1 }));
  });
  fillSearchForm();
  load();
};

pages['product-new'] = function () {
  if (!initSession()) return;
  var form = byId('product-form');
  onSubmit(form, function () {
    return api('POST', '/products', core.productPayload(formValues(form))).then(function (result) {
      if (!result.ok) return formError(form, result.error);
      flash('Created "' + result.body.name + '" on shard ' + result.body.shard + '.');
      location.assign('/app/');
    });
  });
};

pages['product-edit'] = function () {
  if (!initSession()) return;
  var form = byId('product-form');
  var id = core.productIdFromPath(location.pathname);
  if (id === null) {
    notice('This address names no product; open one from the product list.', 'error');
    return;
  }
  var path = '/products/' + encodeURIComponent(id);
  // The version the form shows: saving sends it as If-Match, so a change made meanwhile is never overwritten.
  var version = null;

  function fill(product) {
    ['name', 'price', 'stock', 'category'].forEach(function (key) {
      form.elements.namedItem(key).value = String(product[key]);
    });
    byId('current-shard').textContent = product.shard;
    version = product.version;
    form.hidden = false;
  }

  api('GET', path).then(function (result) {
    if (!result.ok) return notice(result.error.message, 'error');
    fill(result.body);
  });
  onSubmit(form, function () {
    var headers = version === null ? {} : { 'if-match': '"' + version + '"' };
    return api('PUT', path, core.productPayload(formValues(form)), { headers: headers }).then(function (result) {
      if (!result.ok && result.error.code === 'VERSION_CONFLICT' && result.body.error.current) {
        fill(result.body.error.current);
        return notice(result.error.message, 'error');
      }
      if (!result.ok) return formError(form, result.error);
      flash('Saved "' + result.body.name + '" (on shard ' + result.body.shard + ').');
      location.assign('/app/');
    });
  });
};

pages.users = function () {
  if (!initSession()) return;
  var form = byId('user-form');

  function load() {
    api('GET', '/users').then(function (result) {
      if (!result.ok) {
        notice(result.error.message, 'error');
        if (result.status === 403) byId('users-admin').hidden = true;
        return;
      }
      byId('users-admin').hidden = false;
      var me = storedUser();
      byId('user-rows').replaceChildren.apply(byId('user-rows'), result.body.users.map(function (user) {
        return userRow(user, me && me.username === user.username);
      }));
    });
  }

  function userRow(user, isMe) {
    var actions = [];
    if (!isMe) {
      var remove = h('button', { type: 'button', className: 'link danger', textContent: 'Delete', 'aria-label': 'Delete user ' + user.username });
      remove.addEventListener('click', function () {
        if (!confirm('Delete user "' + user.username + '"?')) return;
        api('DELETE', '/users/' + encodeURIComponent(user.username)).then(function (result) {
          if (!result.ok) return notice(result.error.message, 'error');
          notice('Deleted user "' + user.username + '".', 'success');
          load();
        });
      });
      actions.push(remove);
    }
    return h('tr', {}, [
      h('td', { textContent: user.username }),
      h('td', { textContent: user.email }),
      h('td', { textContent: user.role }),
      h('td', { textContent: String(user.createdAt).slice(0, 10) }),
      h('td', {}, actions)
    ]);
  }

  onSubmit(form, function () {
    var values = formValues(form);
    var body = { username: values.username.trim(), email: values.email.trim(), password: values.password, role: values.role };
    return api('POST', '/users', body).then(function (result) {
      if (!result.ok) return formError(form, result.error);
      form.reset();
      notice('Created user "' + result.body.username + '" (' + result.body.role + ').', 'success');
      load();
    });
  });
  load();
};

// Anything that goes wrong in this script outside a form is said too, not left in the console.
window.addEventListener('unhandledrejection', function (event) {
  notice('The page failed: ' + String(event.reason && event.reason.message || event.reason) + '. Reload and retry.', 'error');
});

document.addEventListener('DOMContentLoaded', function () {
  var run = pages[document.body.getAttribute('data-page')];
  if (run) run();
});
`;

/** The whole /static/app.js: the core helpers, then the page code, in one private scope. */
export const APP_JS = `(function () {\n'use strict';\nvar core = (function () {${CORE_JS}})();\n${UI_JS}})();\n`;
