/**
 * The dashboard's page logic that needs no DOM: list state ⇄ URL query,
 * sorting, pagination, error wording, form values → API body. It is plain
 * JavaScript in a string because the service ships as one bundle that reads
 * no files; the same text runs in the browser (inside /static/app.js) and in
 * Node tests (`new Function(CORE_JS)()` returns the helpers).
 *
 * Written in ES2017 without template literals so it can sit in a TypeScript
 * template; the limits come from the API module, so they cannot drift.
 */
import { MAX_LISTING_DEPTH } from '../catalog.js';

/** Function body returning the helpers object; see the module comment. */
export const CORE_JS = String.raw`
'use strict';
var MAX_LISTING_DEPTH = ${MAX_LISTING_DEPTH};
var PAGE_SIZES = [10, 20, 50, 100];
var SORT_FIELDS = ['name', 'price', 'stock'];
var DEFAULT_PAGE_SIZE = 20;

function wholeNumber(text, fallback) {
  return typeof text === 'string' && /^\d+$/.test(text) ? Number(text) : fallback;
}

function clamp(value, low, high) {
  return Math.min(Math.max(value, low), high);
}

/** The table's state from a location.search string: defaults for anything missing or not offered. */
function parseListState(search) {
  var params = new URLSearchParams(search);
  var sort = params.get('sort');
  var asked = wholeNumber(params.get('pageSize'), DEFAULT_PAGE_SIZE);
  var pageSize = PAGE_SIZES.indexOf(asked) >= 0 ? asked : DEFAULT_PAGE_SIZE;
  return {
    q: (params.get('q') || '').trim(),
    category: (params.get('category') || '').trim(),
    sort: SORT_FIELDS.indexOf(sort) >= 0 ? sort : 'name',
    order: params.get('order') === 'desc' ? 'desc' : 'asc',
    page: clamp(wholeNumber(params.get('page'), 1), 1, lastReachablePage(pageSize)),
    pageSize: pageSize
  };
}

/** The GET /products query string for a state (empty filters left out). */
function listQuery(state) {
  var params = new URLSearchParams();
  if (state.q) params.set('q', state.q);
  if (state.category) params.set('category', state.category);
  params.set('sort', state.sort);
  params.set('order', state.order);
  params.set('page', String(state.page));
  params.set('pageSize', String(state.pageSize));
  return params.toString();
}

/** Clicking a column: the same column flips its order, another one starts ascending; back to page 1. */
function nextSort(state, field) {
  var order = state.sort === field && state.order === 'asc' ? 'desc' : 'asc';
  return Object.assign({}, state, { sort: field, order: order, page: 1 });
}

/** The API refuses page × pageSize beyond MAX_LISTING_DEPTH. */
function lastReachablePage(pageSize) {
  return Math.max(1, Math.floor(MAX_LISTING_DEPTH / pageSize));
}

/** What the pager shows for a page of a listing with total items. */
function pageInfo(state, total) {
  var lastPage = Math.max(1, Math.ceil(total / state.pageSize));
  var reachable = lastReachablePage(state.pageSize);
  var from = total === 0 ? 0 : (state.page - 1) * state.pageSize + 1;
  return {
    from: Math.min(from, total),
    to: Math.min(state.page * state.pageSize, total),
    lastPage: lastPage,
    hasPrevious: state.page > 1,
    hasNext: state.page < Math.min(lastPage, reachable),
    depthLimited: lastPage > reachable
  };
}

/** The banner text for a listing some shards did not answer, or null when it is complete. */
function partialMessage(listing) {
  if (!listing || listing.partial !== true) return null;
  var names = Array.isArray(listing.missingShards) ? listing.missingShards.map(String) : [];
  var which = names.length === 0 ? 'some shards' : (names.length === 1 ? 'shard ' : 'shards ') + names.join(', ');
  return 'Partial results: ' + which + ' did not answer, so ' + (names.length === 1 ? 'its' : 'their') +
    ' products are missing from this list and from the total. Retry once ' + (names.length === 1 ? 'it is' : 'they are') + ' back.';
}

/**
 * An API failure in words. status 0 means the request never got an answer.
 * Returns the sentence, the offending field (for 400s) and the error code.
 */
function describeError(status, body, retryAfter) {
  var error = body && typeof body === 'object' && body.error && typeof body.error === 'object' ? body.error : {};
  var detail = typeof error.message === 'string' ? error.message : '';
  var field = typeof error.field === 'string' ? error.field : null;
  var code = typeof error.code === 'string' ? error.code : null;
  var text;
  if (status === 0) {
    text = 'Could not reach the web-server' + (detail ? ' (' + detail + ')' : '') + '. Check the connection and retry.';
  } else if (status === 400) {
    text = 'Not accepted: ' + (detail || 'the request was invalid') + '.';
  } else if (status === 401) {
    text = 'Not logged in: ' + (detail || 'the session is missing or has expired') + '.';
  } else if (status === 403) {
    text = 'Not allowed: ' + (detail || 'your account lacks the role this needs') + '.';
  } else if (status === 404) {
    text = 'Not found: ' + (detail || 'it may have been deleted') + '.';
  } else if (status === 409 && code === 'VERSION_CONFLICT') {
    text = 'Not saved: someone else changed this product while you were editing it. ' +
      'The form now shows its current values; make your change again and save.';
  } else if (status === 429) {
    text = 'Too many failed attempts' + (detail ? ' (' + detail + ')' : '') + '; try again' +
      (/^\d+$/.test(retryAfter || '') ? ' in ' + retryAfter + ' seconds' : ' later') + '.';
  } else if (status === 503) {
    var names = Array.isArray(error.unavailable) ? error.unavailable.map(String) : [];
    text = 'Temporarily unavailable' + (names.length ? ' (database ' + names.join(', ') + ' unreachable)' : '') +
      ': ' + (detail || 'retry shortly') + '.';
  } else {
    text = 'The server answered ' + status + (detail ? ': ' + detail : '') + '.';
  }
  return { status: status, code: code, field: field, message: text };
}

/**
 * The product body from form values. Numbers are converted when they look
 * like numbers; anything else is sent as typed, so the API — the one place
 * with the rules — answers with the field and the rule it breaks.
 */
function productPayload(values) {
  function numberOrText(text) {
    var trimmed = String(text).trim();
    return trimmed !== '' && isFinite(Number(trimmed)) ? Number(trimmed) : trimmed;
  }
  return {
    name: String(values.name).trim(),
    price: numberOrText(values.price),
    stock: numberOrText(values.stock),
    category: String(values.category).trim()
  };
}

/** A price as typed: at least two decimals, never rounded away. */
function formatPrice(price) {
  if (typeof price !== 'number' || !isFinite(price)) return String(price);
  var text = String(price);
  return /\.\d\d/.test(text) || /e/.test(text) ? text : price.toFixed(2);
}

/** The product id in /app/products/<id>/edit, or null. */
function productIdFromPath(pathname) {
  var match = /^\/app\/products\/([^/]+)\/edit\/?$/.exec(pathname);
  if (!match) return null;
  try {
    return decodeURIComponent(match[1]);
  } catch (err) {
    return null;
  }
}

/** The edit page's path for a product id. */
function editPath(id) {
  return '/app/products/' + encodeURIComponent(id) + '/edit';
}

return {
  PAGE_SIZES: PAGE_SIZES,
  SORT_FIELDS: SORT_FIELDS,
  parseListState: parseListState,
  listQuery: listQuery,
  nextSort: nextSort,
  pageInfo: pageInfo,
  partialMessage: partialMessage,
  describeError: describeError,
  productPayload: productPayload,
  formatPrice: formatPrice,
  productIdFromPath: productIdFromPath,
  editPath: editPath
};
`;
