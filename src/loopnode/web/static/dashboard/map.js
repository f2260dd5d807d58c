// The map panel: this city's materials, the cities we know, and flows between them.
// Leaflet draws everything as vector layers; a tile layer is added only when the operator set
// `dashboard_tile_url`. Without one the map is a plain background with points and lines, which
// is what an offline node shows.
import { api, config, el, fillTable, listAll, passportHref, quantity, say } from "./common.js";

const LOCAL_COLOR = "#0b5cad";
const CITY_COLOR = "#5a3d99";
const FLOW_COLOR = "#b3261e";

export function createMap(containerId = "map") {
  const container = document.getElementById(containerId);
  if (!container || typeof L === "undefined") return { refresh: async () => {} };
  const map = L.map(container, { preferCanvas: false, keyboard: true, attributionControl: false })
    .setView([config.lat, config.lon], 7);
  if (config.tile_url) {
    L.control.attribution({ prefix: false }).addTo(map);
    L.tileLayer(config.tile_url, { maxZoom: 19, attribution: "map tiles: operator's tile server" }).addTo(map);
    say("map-mode", "Map tiles from the operator's tile server.");
  } else {
    container.classList.add("plain");
    say("map-mode", "Offline map: points and flows on a plain background (no tile server configured).");
  }
  const layers = {
    materials: L.layerGroup().addTo(map),
    cities: L.layerGroup().addTo(map),
    flows: L.layerGroup().addTo(map),
  };
  let fitted = false;

  async function refresh() {
    const [materials, remote, registry, matches, transfers] = await Promise.all([
      listAll(`${"/api/v1"}/material?limit=100`, 5),
      listAll(`${"/api/v1"}/federation/materials?limit=100`, 1),
      api("federation/nodes"),
      listAll(`${"/api/v1"}/match?limit=100`, 10),
      listAll(`${"/api/v1"}/transfer?limit=100`, 10),
    ]);
    const cities = cityPositions(materials.results, remote.results, registry.ok ? registry.data.nodes : []);
    drawMaterials(layers.materials, materials.results, remote.results);
    drawCities(layers.cities, cities);
    const flows = flowList(matches.results, transfers.results, cities);
    drawFlows(layers.flows, flows);
    fillTable("flows-table", flows.map(flowRow), "No transfers yet.");
    say("map-counts", `${materials.results.length} local materials, ${remote.results.length} announced by peers, ` +
      `${Object.keys(cities).length} cities, ${flows.filter((f) => f.line).length} flows between cities.`);
    if (!fitted) {
      const points = Object.values(cities).map((c) => [c.lat, c.lon]);
      if (points.length > 1) map.fitBounds(points, { padding: [30, 30], maxZoom: 9 });
      fitted = true;
    }
  }
  return { refresh, map };
}

function key(name) {
  return String(name || "").trim().toLowerCase();
}

/** City positions: this node, the federation's registered nodes, and where materials are. */
export function cityPositions(materials, remote, nodes) {
  const cities = {};
  const sums = {};
  for (const record of [...materials, ...remote]) {
    const location = record.location;
    const name = record.current_city;
    if (!name || !location || typeof location.lat !== "number") continue;
    const s = (sums[key(name)] ||= { name, lat: 0, lon: 0, n: 0 });
    s.lat += location.lat; s.lon += location.lon; s.n += 1;
  }
  for (const [k, s] of Object.entries(sums)) cities[k] = { name: s.name, lat: s.lat / s.n, lon: s.lon / s.n };
  for (const node of nodes || []) {
    if (!node.location || node.id === config.node_id) continue;
    // The registry answers 0,0 for a peer whose location it never learnt: not a place.
    if (node.location.lat === 0 && node.location.lon === 0) continue;
    const name = node.id.replace(/\.loop$/, "");
    cities[key(name)] = { name: name.charAt(0).toUpperCase() + name.slice(1), lat: node.location.lat, lon: node.location.lon, node: node.id };
  }
  cities[key(config.city)] = { name: config.city, lat: config.lat, lon: config.lon, node: config.node_id, home: true };
  return cities;
}

function drawMaterials(layer, materials, remote) {
  layer.clearLayers();
  const add = (record, remoteOne) => {
    const location = record.location;
    if (!location || typeof location.lat !== "number") return;
    const marker = L.circleMarker([location.lat, location.lon], {
      radius: remoteOne ? 5 : 4, weight: 1, color: remoteOne ? CITY_COLOR : LOCAL_COLOR,
      fillOpacity: remoteOne ? 0.2 : 0.6, className: remoteOne ? "remote-point" : "material-point",
    });
    const link = el("a", { href: passportHref(record.id) }, record.id);
    marker.bindPopup(el("div", {}, link, el("br"), `${record.category || ""} · ${quantity(record.quantity)}`,
      el("br"), remoteOne ? `announced by ${record.source_node}` : (record.availability || "")));
    layer.addLayer(marker);
  };
  materials.forEach((m) => add(m, false));
  remote.forEach((m) => add(m, true));
}

function drawCities(layer, cities) {
  layer.clearLayers();
  for (const city of Object.values(cities)) {
    const marker = L.circleMarker([city.lat, city.lon], {
      radius: city.home ? 10 : 8, weight: 3, color: city.home ? LOCAL_COLOR : CITY_COLOR,
      fillColor: "#ffffff", fillOpacity: 1, className: "city-point",
    });
    // Text nodes, never HTML strings: city names come from peers' and users' records.
    const label = el("span", {}, city.name + (city.node ? ` (${city.node})` : ""));
    marker.bindTooltip(label, { permanent: true, direction: "top", offset: [0, -8] });
    layer.addLayer(marker);
  }
}

/** One entry per transfer, with the cities of its match and a line when both are placed. */
export function flowList(matches, transfers, cities) {
  const byId = Object.fromEntries(matches.map((m) => [m.id, m]));
  return transfers.map((t) => {
    const match = byId[t.match_id] || {};
    const from = cities[key(match.from_city)];
    const to = cities[key(match.to_city)];
    const line = from && to && from !== to ? [[from.lat, from.lon], [to.lat, to.lon]] : null;
    return { id: t.id, status: t.status, from: match.from_city || "?", to: match.to_city || "?", line };
  });
}

function drawFlows(layer, flows) {
  layer.clearLayers();
  for (const flow of flows) {
    if (!flow.line) continue;
    const done = flow.status === "completed";
    const line = L.polyline(flow.line, {
      color: FLOW_COLOR, weight: done ? 4 : 3, opacity: 0.85, dashArray: done ? null : "8 6",
      className: `flow flow-${String(flow.id).replace(/[^A-Za-z0-9_-]/g, "_")}`,
    });
    line.bindTooltip(el("span", {}, `${flow.id}: ${flow.from} → ${flow.to} (${flow.status})`));
    layer.addLayer(line);
  }
}

function flowRow(flow) {
  return el("tr", { "data-transfer": flow.id }, el("td", {}, flow.id), el("td", {}, flow.from),
    el("td", {}, flow.to + (flow.line || flow.from === flow.to ? "" : " (location unknown)")),
    el("td", {}, flow.status));
}
