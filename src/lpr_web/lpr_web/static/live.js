// Live journal: refresh the table body every few seconds (HTML rendered and
// escaped by the server; a lost session reloads the page, which goes to login).
(function () {
  const rows = document.getElementById('rows');
  const badge = document.getElementById('live');
  async function refresh() {
    try {
      const response = await fetch('/journal/rows', {credentials: 'same-origin', cache: 'no-store'});
      if (response.redirected || response.status === 401) { location.reload(); return; }
      if (response.ok) { rows.innerHTML = await response.text(); badge.textContent = 'live'; }
      else { badge.textContent = 'offline (' + response.status + ')'; }
    } catch (e) {
      badge.textContent = 'offline';
    }
  }
  setInterval(refresh, 3000);
})();
