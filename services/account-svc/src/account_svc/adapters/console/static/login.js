// The login screen: POST /console/session sets the session cookies (the token stays HttpOnly).

import {api, describe} from './api.js';
import {h, replace} from './dom.js';
import {textField} from './fields.js';

function problemText(error) {
  const type = error.problem && error.problem.type;
  if (error.status === 401) return 'Wrong username or password.';
  if (type === 'rate_limited') {
    return 'Too many logins from your address. Wait a minute, then try again.';
  }
  if (type === 'overloaded') return 'The server is busy. Try again in a moment.';
  if (error.status === 429) {
    return 'Too many failed attempts: this username is locked for 15 minutes. '
      + 'Try again later, or ask a super admin.';
  }
  if (error.status === 422) return 'Enter both your username and your password.';
  return `Could not log in: ${describe(error)}`;
}

/** Render the login form; `loggedIn(user)` runs after a successful login. */
export function renderLogin(main, loggedIn, message = '') {
  const error = h('div', {class: 'notice notice-error', role: 'alert', hidden: !message},
    message);
  const user = textField('username', 'Username', {autocomplete: 'username'});
  const pass = textField('password', 'Password', {type: 'password',
    autocomplete: 'current-password'});
  const submit = h('button', {type: 'submit', class: 'button button-primary'}, 'Log in');
  const form = h('form', {class: 'card login', novalidate: true}, error, user, pass, submit);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    submit.disabled = true;
    try {
      const answer = await api('POST', '/console/session', {
        username: user.querySelector('input').value,
        password: pass.querySelector('input').value,
      });
      loggedIn(answer.user);
    } catch (failure) {
      error.textContent = problemText(failure);
      error.hidden = false;
      pass.querySelector('input').value = '';
      (failure.status === 429 ? user : pass).querySelector('input').focus();
    } finally {
      submit.disabled = false;
    }
  });
  replace(main, h('div', {class: 'login-wrap'},
    h('h1', {}, 'Parley console'),
    h('p', {class: 'lead'}, 'Log in to manage organizations, business groups and access accounts.'),
    form));
  user.querySelector('input').focus();
}
