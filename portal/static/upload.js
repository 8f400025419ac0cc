// Streams the chosen CDR file to the API as the request body (never read whole into the
// page), shows the upload's progress, then the submission's until it is done.
(function () {
  var form = document.getElementById('upload-form');
  if (!form) { return; }
  var bar = document.getElementById('upload-progress');
  var status = document.getElementById('upload-status');
  form.addEventListener('submit', function (ev) {
    ev.preventDefault();
    var file = document.getElementById('file').files[0];
    if (!file) { status.textContent = 'Choose a file first.'; return; }
    var q = new URLSearchParams();
    ['format', 'orig', 'term', 'tz'].forEach(function (k) {
      var v = form.elements[k].value;
      if (v) { q.set(k, v); }
    });
    q.set('name', file.name);
    var xhr = new XMLHttpRequest();
    xhr.open('POST', '/api/v1/cdr-files?' + q.toString());
    xhr.setRequestHeader('X-CSRF-Token', form.elements.csrf.value);
    xhr.setRequestHeader('Content-Type', 'application/octet-stream');
    xhr.upload.onprogress = function (e) {
      if (e.lengthComputable) { bar.max = e.total; bar.value = e.loaded; }
      status.textContent = 'Uploading…';
    };
    xhr.onload = function () {
      var r = {};
      try { r = JSON.parse(xhr.responseText); } catch (e) { r = { message: xhr.responseText }; }
      if (xhr.status !== 202) { status.textContent = 'Refused: ' + (r.message || xhr.status); return; }
      poll(r.id);
    };
    xhr.onerror = function () { status.textContent = 'The upload failed.'; };
    xhr.send(file);
  });
  function poll(id) {
    fetch('/api/v1/cdr-files/' + encodeURIComponent(id), { credentials: 'same-origin' })
      .then(function (r) { return r.json(); })
      .then(function (s) {
        bar.max = s.total_bytes || 1; bar.value = s.done_bytes;
        if (s.state === 'running') {
          status.textContent = 'Submitting… ' + s.done_bytes + ' of ' + s.total_bytes + ' bytes';
          setTimeout(function () { poll(id); }, 300);
          return;
        }
        if (s.state === 'failed') { status.textContent = 'Failed: ' + s.message; return; }
        window.location = '/uploads?id=' + encodeURIComponent(id);
      });
  }
})();
