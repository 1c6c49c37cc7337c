// The dashboard's charts (Chart.js, vendored): per day of the period, the period's funnels, and
// today by hour. The figures come with the page (json_script), so the charts need no request.
// Each canvas fills its box (.chart-box has the height; maintainAspectRatio off), and an empty
// series still draws a 0..1 axis rather than an empty box.
(function () {
  var read = function (id) { return JSON.parse(document.getElementById(id).textContent); };
  var s = read("dashboard-series"), t = read("dashboard-labels");
  var sum = function (a) { return a.reduce(function (x, y) { return x + y; }, 0); };
  var axes = function (extra) {
    var counts = {beginAtZero: true, suggestedMax: 1, ticks: {precision: 0}};
    return Object.assign({x: {}, y: counts}, extra || {});
  };
  var base = {animation: false, responsive: true, maintainAspectRatio: false};
  var line = function (label, data, color) {
    return {label: label, data: data, borderColor: color, backgroundColor: color, tension: 0.2};
  };
  new Chart(document.getElementById("chart-series"), {
    type: "line",
    data: {labels: s.days, datasets: [
      line(t.targets, s.targets, "#0b6bcb"),
      line(t.arrived, s.arrived, "#1a7f37"),
      line(t.clicked, s.clicked, "#8250df"),
      line(t.sms_sent, s.sms_sent, "#b26a00")
    ]},
    options: Object.assign({interaction: {mode: "index", intersect: false}, scales: axes()}, base)
  });
  var funnel = ["targets", "sent", "arrived", "clicked", "sms_due", "sms_sent", "sms_delivered"];
  new Chart(document.getElementById("chart-funnel"), {
    type: "bar",
    data: {labels: funnel.map(function (k) { return t[k]; }),
      datasets: [{label: t.period, data: funnel.map(function (k) { return sum(s[k]); }),
        backgroundColor: ["#0b6bcb", "#3d8bd9", "#1a7f37", "#8250df", "#b26a00", "#d4880f", "#e3a93b"]}]},
    options: Object.assign({indexAxis: "y", plugins: {legend: {display: false}},
      scales: {x: {beginAtZero: true, suggestedMax: 1, ticks: {precision: 0}}, y: {}}}, base)
  });
  var hours = [];
  for (var h = 0; h < 24; h++) { hours.push((h < 10 ? "0" : "") + h); }
  new Chart(document.getElementById("chart-hours"), {
    type: "bar",
    data: {labels: hours, datasets: [
      line(t.targets, s.hours.targets, "#0b6bcb"),
      line(t.arrived, s.hours.arrived, "#1a7f37"),
      line(t.clicked, s.hours.clicked, "#8250df"),
      line(t.sms_sent, s.hours.sms_sent, "#b26a00")
    ]},
    options: Object.assign({interaction: {mode: "index", intersect: false}, scales: axes()}, base)
  });
})();
